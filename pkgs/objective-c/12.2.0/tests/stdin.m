#import <objc/Object.h>
#include <stdio.h>
#include <string.h>

@interface Echo : Object
+ (void) say: (const char *) line;
@end

@implementation Echo
+ (void) say: (const char *) line
{
	printf("OK %s\n", line);
}
@end

int main(void)
{
	char line[256] = "";
	if (fgets(line, sizeof line, stdin))
		line[strcspn(line, "\n")] = '\0';
	[Echo say: line];
	return 0;
}
