public class Test {
    public static void main(String[] args) {
        System.out.println("O" + "K");
    }
}
