"""Message content: header fields of raw messages, composing and parsing parts."""
