"""The legacy stack made to work on Python 3.11: Theano's patches and flags, the cache directory,
and the compiled functions kept between runs."""
