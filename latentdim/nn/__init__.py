"""The networks every model is built from: the stacked layers and the MLP and
convolutional bodies (:mod:`.layers`), the auto-encoder and its training steps
(:mod:`.autoencoder`), and the loss math (:mod:`.losses`)."""
