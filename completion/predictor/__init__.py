"""The acceptance predictor: decides whether a suggestion is worth generating and showing."""
