"""One completion from request to answer: rules, prompt, generation, post-processing."""
