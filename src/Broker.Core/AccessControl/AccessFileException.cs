namespace Broker.Core.AccessControl;

/// <summary>
/// A password file or acl.conf that cannot be used. The message starts with <c>file:line:</c> so an operator can
/// jump straight to the offending line; start-up and reload report it as is.
/// </summary>
public sealed class AccessFileException : Exception
{
    public AccessFileException(string fileName, int line, string message)
        : base($"{fileName}:{line}: {message}")
    {
        FileName = fileName;
        Line = line;
    }

    /// <summary>The file, as it was named to the loader.</summary>
    public string FileName { get; }

    /// <summary>1-based line number.</summary>
    public int Line { get; }
}
