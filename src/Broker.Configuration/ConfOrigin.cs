namespace Broker.Configuration;

/// <summary>Where a configuration value came from: a line of a .conf file or an environment variable.</summary>
public sealed record ConfOrigin
{
    private ConfOrigin(string? file, int line, string? environmentVariable)
    {
        File = file;
        Line = line;
        EnvironmentVariable = environmentVariable;
    }

    /// <summary>The .conf file as it was named to the broker; null for an environment variable.</summary>
    public string? File { get; }

    /// <summary>1-based line in <see cref="File"/>; 0 when the problem concerns the whole file or no file.</summary>
    public int Line { get; }

    /// <summary>The variable's name (BROKER_...); null for a file.</summary>
    public string? EnvironmentVariable { get; }

    /// <summary>A line of a file, or the whole file when <paramref name="line"/> is 0.</summary>
    public static ConfOrigin InFile(string file, int line) => new(file, line, null);

    /// <summary>An environment variable.</summary>
    public static ConfOrigin InEnvironment(string variable) => new(null, 0, variable);

    /// <summary><c>etc/broker.conf:42</c> or <c>environment variable BROKER_MQTT__MAX_PACKET_SIZE</c>.</summary>
    public override string ToString() =>
        File is null ? $"environment variable {EnvironmentVariable}"
        : Line > 0 ? $"{File}:{Line}"
        : File;
}
