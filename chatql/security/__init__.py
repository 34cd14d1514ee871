"""Safety at the edges: error masking and codes, limits on what a request may ask for."""
