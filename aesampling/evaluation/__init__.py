"""Train-on-synthetic learning curves (Figure 2, Section IV-G) and their accuracy summaries."""
