import std.stdio;
import helper;

void main()
{
    writeln(word());
}
