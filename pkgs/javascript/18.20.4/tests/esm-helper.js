export function word() {
  return "OK";
}
