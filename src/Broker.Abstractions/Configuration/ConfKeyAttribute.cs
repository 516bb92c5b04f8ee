namespace Broker.Abstractions.Configuration;

/// <summary>
/// Binds a settable property of an options class to one key of a .conf file
/// (<c>mqtt.max_packet_size = 1MB</c>). The property's initial value is the default, and the
/// description is what the shipped, commented .conf shows above the key.
/// </summary>
/// <remarks>
/// Public because plugins describe their options the same way as the broker does.
/// <see cref="Min"/> and <see cref="Max"/> are written in .conf syntax ("1KB", "15s", "10") so a bound
/// reads the way an operator writes the value; both are checked after parsing and are inclusive.
/// </remarks>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
public sealed class ConfKeyAttribute : Attribute
{
    /// <summary>Binds the property to <paramref name="key"/>.</summary>
    /// <param name="key">Dotted, lower-case key, e.g. <c>mqtt.max_packet_size</c>.</param>
    /// <param name="description">One or more sentences for operators; shown as comments in the .conf.</param>
    public ConfKeyAttribute(string key, string description)
    {
        Key = key;
        Description = description;
    }

    /// <summary>Dotted key, e.g. <c>mqtt.max_packet_size</c>.</summary>
    public string Key { get; }

    /// <summary>What the key controls, for operators.</summary>
    public string Description { get; }

    /// <summary>How the value is written: sizes for integer properties, durations for <see cref="TimeSpan"/>.</summary>
    public ConfUnit Unit { get; set; }

    /// <summary>Smallest accepted value in .conf syntax, inclusive; null for no bound.</summary>
    public string? Min { get; set; }

    /// <summary>Largest accepted value in .conf syntax, inclusive; null for no bound.</summary>
    public string? Max { get; set; }

    /// <summary>An example value shown in the .conf when the default alone does not explain the format.</summary>
    public string? Example { get; set; }
}
