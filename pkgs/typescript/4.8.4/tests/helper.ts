export function word(): string {
    return "OK";
}
