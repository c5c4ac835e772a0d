"""How close samples are to the data in C's feature space (FD, precision/recall/density/coverage, class TV), and how the chains mix."""
