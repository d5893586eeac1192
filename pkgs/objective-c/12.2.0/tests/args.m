#import <objc/Object.h>
#include <stdio.h>

@interface Joiner : Object
+ (void) join: (char **) items count: (int) n;
@end

@implementation Joiner
+ (void) join: (char **) items count: (int) n
{
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? "|" : "", items[i]);
	putchar('\n');
}
@end

int main(int argc, char **argv)
{
	[Joiner join: argv + 1 count: argc - 1];
	return 0;
}
