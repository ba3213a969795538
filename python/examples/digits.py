"""The 8x8 digits of examples/data/digits.csv (a label and 64 pixels per line), split into
training and test rows, for the Python examples."""

import os

import numpy as np

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "data", "digits.csv")


def load(test_rows=300, seed=42):
    data = np.loadtxt(PATH, delimiter=",", dtype=np.float32)
    order = np.random.default_rng(seed).permutation(len(data))
    x, y = data[order, 1:] / 16, data[order, 0].astype(np.int32)
    return (x[test_rows:], y[test_rows:]), (x[:test_rows], y[:test_rows])


def one_hot(y, classes=10):
    return np.eye(classes, dtype=np.float32)[y]
