#ifndef HELPER_H
#define HELPER_H
const char *word(void);
#endif
