"""Observables, correlation functions and error analysis of spin ensembles."""
