graph.yaml
