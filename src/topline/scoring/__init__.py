"""Predictive scoring: calibrated probabilities that leads convert and deals are won, with the
factors behind each score and the evidence of how accurate the scores are."""
