"""The user's code, taken in under guards: imports (Python 2 and Lasagne master detection), time and
network limits, and blame (which line of the user's code a layer, a call or an error comes from)."""
