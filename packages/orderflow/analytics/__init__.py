"""Estimators fitted over a recording's stored metrics (Stoikov's micro-price)."""
