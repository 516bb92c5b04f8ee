namespace Broker.StoreBench;

/// <summary>One run's numbers, written as JSON (snake_case, nulls left out). Sizes are bytes.</summary>
internal sealed class Result
{
    public required string Engine { get; init; }
    public required string Workload { get; init; }
    public string? Mode { get; init; }
    public int? Writers { get; init; }
    public string? Values { get; init; }
    public double? Seconds { get; set; }
    public long? Messages { get; set; }
    public double? MessagesPerSecond { get; set; }
    public double? CpuMicrosPerMessage { get; set; }
    public double? CommitP50Micros { get; set; }
    public double? CommitP99Micros { get; set; }
    public double? MeanBatch { get; set; }
    public long? SizeEnd { get; set; }
    public long? SizeMax { get; set; }
    public List<long>? SizeSamples { get; set; }
    public long? Records { get; set; }
    public double? LoadSeconds { get; set; }
    public double? OpenMillis { get; set; }
    public double? ScanMillis { get; set; }
    public long? SizeLoaded { get; set; }
    public long? SizeAfterDelete { get; set; }
    public long? SizeAfterCompact { get; set; }
    public double? CompactMillis { get; set; }
    public string? Error { get; set; }
}
