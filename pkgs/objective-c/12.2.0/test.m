#import <objc/Object.h>
#include <stdio.h>

@interface Greeter : Object
+ (const char *) greeting;
@end

@implementation Greeter
+ (const char *) greeting
{
	return "OK";
}
@end

int main(void)
{
	puts([Greeter greeting]);
	return 0;
}
