"""The lumenize_trio benchmark suite: every figure is a ratio to a bare baseline measured in the same run."""
