"""Small, real models for trying amaxcheck and for its own tests (needs scikit-learn)."""
