missloop.yaml
