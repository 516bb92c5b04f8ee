// Composition root: filled in by the core issue (listeners, sessions, configuration).
return 0;
