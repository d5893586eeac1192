proc word {} { return OK }
