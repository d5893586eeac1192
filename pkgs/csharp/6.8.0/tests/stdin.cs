using System;

class Program
{
    static void Main()
    {
        Console.WriteLine("OK " + Console.ReadLine());
    }
}
