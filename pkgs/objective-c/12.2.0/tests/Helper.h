#import <objc/Object.h>

@interface Helper : Object
+ (const char *) word;
@end
