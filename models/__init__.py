"""Model back ends (embedded llama.cpp), the model registry, downloads and FIM templates."""
