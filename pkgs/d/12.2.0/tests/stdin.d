import std.stdio;
import std.string : strip;

void main()
{
    writeln("OK ", readln().strip());
}
