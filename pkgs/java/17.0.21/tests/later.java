import java.util.List;

// A helper class first: the source launcher alone would try to run it.
class Greeter {
    String word() {
        return String.join("", List.of("O", "K"));
    }
}

public class Program {
    public static void main(String[] args) {
        System.out.println(new Greeter().word());
    }
}
