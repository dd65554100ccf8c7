"""Labs: reproducible experiments that measure what training-serving skew costs a model.

``parity lab skew`` (:mod:`store.lab.skew`) trains one fraud model four ways and scores each on
what serving returned. The lab uses the store through its public API only (``store``'s
``__all__``) and needs the ``lab`` extra (scikit-learn).
"""
