"""Reference data shipped with the evaluation: the paper's published results (paper_results.csv)."""
