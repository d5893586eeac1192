#import "Helper.h"

@implementation Helper
+ (const char *) word
{
	return "OK";
}
@end
