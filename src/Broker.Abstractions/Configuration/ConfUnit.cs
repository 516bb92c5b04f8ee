namespace Broker.Abstractions.Configuration;

/// <summary>How a .conf value is written when the property type alone does not say.</summary>
public enum ConfUnit
{
    /// <summary>Written as the property type implies (a number, a word, true/false).</summary>
    None,

    /// <summary>A size: a whole number of bytes or one with KB, MB or GB (binary: 1KB = 1024).</summary>
    Bytes,

    /// <summary>A duration such as 500ms, 15s, 2m, 1h or 1d; a bare number means seconds.</summary>
    Duration,
}
