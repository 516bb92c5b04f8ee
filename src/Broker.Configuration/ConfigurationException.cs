namespace Broker.Configuration;

/// <summary>
/// The configuration cannot be used; start-up stops. Carries every problem found, not just the first,
/// so an operator fixes them in one round: the message has one line per problem.
/// </summary>
public sealed class ConfigurationException : Exception
{
    /// <summary>Reports <paramref name="errors"/>; there must be at least one.</summary>
    public ConfigurationException(IEnumerable<ConfigurationError> errors)
        : this(errors.ToArray())
    {
    }

    private ConfigurationException(ConfigurationError[] errors)
        : base(errors.Length == 0
            ? throw new ArgumentException("A configuration exception needs at least one error.", nameof(errors))
            : string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
    {
        Errors = errors;
    }

    /// <summary>Every problem, in the order found (files in line order, then keys in declaration order).</summary>
    public IReadOnlyList<ConfigurationError> Errors { get; }

    /// <summary>File of the first problem; null when it came from an environment variable or a default.</summary>
    public string? File => Errors[0].Origin?.File;

    /// <summary>Line of the first problem; null when it is not tied to a line.</summary>
    public int? Line => Errors[0].Origin is { Line: > 0 } origin ? origin.Line : null;

    /// <summary>Key of the first problem, if it has one.</summary>
    public string? Key => Errors[0].Key;

    /// <summary>Environment variable of the first problem, if it came from one.</summary>
    public string? EnvironmentVariable => Errors[0].Origin?.EnvironmentVariable;

    /// <summary>Throws when <paramref name="errors"/> is not empty, so callers can collect from several checks first.</summary>
    public static void ThrowIfAny(IEnumerable<ConfigurationError> errors)
    {
        var all = errors.ToArray();
        if (all.Length > 0)
        {
            throw new ConfigurationException(all);
        }
    }
}
