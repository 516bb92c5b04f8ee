namespace Broker.Abstractions.Configuration;

/// <summary>
/// Binds a <see cref="SortedDictionary{TKey, TValue}"/> property (keyed by <see cref="int"/>) to numbered entries of a
/// .conf file, in ascending number: with a plain value type (<see cref="string"/>, a number, a duration...)
/// <c>rewrite.rule.1 = ...</c>, <c>rewrite.rule.2 = ...</c>; with an options class whose properties carry
/// <see cref="ConfKeyAttribute"/>s relative to the entry, <c>subscription.1.topic = ...</c>,
/// <c>subscription.1.qos = 1</c>. Numbers start at 1 and need not follow each other; the entry class's property
/// initialisers are each field's default, and an entry class that is <see cref="IValidatableOptions"/> is checked
/// entry by entry. Every problem names the file, line and full key (<c>subscription.3.qos</c>). Since SDK 1.5.
/// </summary>
/// <remarks>
/// An unknown field inside an entry (<c>subscription.1.qso</c>) is an error, with a suggestion when a field is close.
/// Environment overrides work as for any key: <c>BROKER_..._SUBSCRIPTION__1__TOPIC</c>.
/// </remarks>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
public sealed class ConfListAttribute : Attribute
{
    /// <summary>Binds the property to the entries <c><paramref name="key"/>.N</c>.</summary>
    /// <param name="key">Dotted, lower-case key before the number, e.g. <c>subscription</c> or <c>rewrite.pub_rule</c>.</param>
    /// <param name="description">What one entry means, for operators; shown as comments in the .conf.</param>
    public ConfListAttribute(string key, string description)
    {
        Key = key;
        Description = description;
    }

    /// <summary>The key before the entry's number.</summary>
    public string Key { get; }

    /// <summary>What one entry means, for operators.</summary>
    public string Description { get; }

    /// <summary>An example entry's value (plain entries) shown in the .conf, commented out.</summary>
    public string? Example { get; set; }
}
