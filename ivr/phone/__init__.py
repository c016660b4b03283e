"""The phone line's lower layers: AudioSocket, RTP with RFC 4733 DTMF, SDP, SIP.

Each protocol is a sans-I/O state machine (bytes in, typed frozen events out, never an
exception on peer input); the drivers that own sockets and clocks live elsewhere.
"""
