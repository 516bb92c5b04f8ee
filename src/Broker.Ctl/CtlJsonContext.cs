using System.Text.Json;
using System.Text.Json.Serialization;

namespace Broker.Ctl;

/// <summary>Source-generated JSON for what ctl writes (it reads with <see cref="JsonDocument"/>).</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class CtlJsonContext : JsonSerializerContext;
