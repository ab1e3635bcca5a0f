"""Steering: which OCAs should serve a client the files of a play, as ranked, signed URLs (gRPC
`Steer`, called by the Play API), and the content-steering manifest players re-read during the
play (HTTP through the gateway). Its view of the OCAs is cache control's steering state."""
