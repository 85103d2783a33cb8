"""Keras 3 adapters, one per backend. keras is imported on first use: importing this package does not import it.

- layers.py  KerasTorchAdapter ("keras.torch"), KerasJaxAdapter ("keras.jax"),
             KerasTensorFlowAdapter ("keras.tensorflow"): keras.layers.Conv{1,2,3}D and
             Conv{1,2,3}DTranspose (with a ZeroPadding layer before the conv for explicit padding),
             gradients by the backend's autodiff. KERAS_BACKEND is read when keras is imported, so
             each runs in its own worker process (`environment`).
"""
