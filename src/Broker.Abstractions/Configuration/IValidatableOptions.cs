namespace Broker.Abstractions.Configuration;

/// <summary>
/// An options class with rules that span several keys (one limit below another, a file required when
/// a feature is on). Called after every key of the class has parsed; each error names the key the
/// operator should change, so the message can point at the line that set it.
/// </summary>
public interface IValidatableOptions
{
    /// <summary>Returns one entry per broken rule; empty when the options are consistent.</summary>
    IEnumerable<(string Key, string Error)> Validate();
}
