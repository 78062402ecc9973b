"""TensorFlow twins of the host functions, for nengo-dl ``TensorNode`` s.

``f(x, *args)`` takes a minibatch of flat samples ``(batch, size)`` and returns
``(batch, out_size)``; the arguments are those of :mod:`snnc.codegen.host_functions`. Like
those, each function is copied into the generated ``network.py`` and must be
self-contained (it imports TensorFlow in its own body). The tests check each one against
the interpreter.
"""


def tf_softmax(x, shape, axis):
    """Softmax of each sample (flat, of ``shape``) along ``axis``."""
    import tensorflow as tf

    y = tf.reshape(x, (-1, *shape))
    y = tf.nn.softmax(y, axis=axis if axis < 0 else axis + 1)
    return tf.reshape(y, (tf.shape(x)[0], -1))


def tf_max_pool(x, shape, pool_size, strides, pads):
    """Max pooling of each sample (flat, of ``shape``); explicit ``pads``, padded cells never
    win. Leading (TimeDistributed) dims fold into the batch."""
    import tensorflow as tf

    n = len(pool_size)
    lead = tuple(shape[: len(shape) - n - 1])
    y = tf.reshape(x, (-1, *shape[len(lead) :]))
    y = tf.pad(y, [(0, 0), *pads, (0, 0)], constant_values=float("-inf"))
    y = tf.nn.max_pool(y, pool_size, strides, "VALID")
    return tf.reshape(y, (tf.shape(x)[0], -1))


def tf_global_max_pool(x, shape, n_spatial):
    """Max over the ``n_spatial`` dims before the channel axis."""
    import tensorflow as tf

    y = tf.reshape(x, (-1, *shape))
    axes = list(range(len(shape) - n_spatial, len(shape)))  # +1 for the batch axis, -1 channel
    y = tf.reduce_max(y, axis=axes)
    return tf.reshape(y, (tf.shape(x)[0], -1))


def tf_quantize(x, step, lo, hi):
    """Round each sample to the fixed-point grid (``tf.round`` rounds half to even, like
    ``np.rint``)."""
    import tensorflow as tf

    return tf.clip_by_value(tf.round(x / step), lo, hi) * step
