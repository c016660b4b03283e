../bad/unknown_target.yaml --json
