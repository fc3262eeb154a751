/// The release both programs report (`--version`, `accountservice_build_info`).
public enum ProductVersion {
    public static let current = "0.4.0"
}
