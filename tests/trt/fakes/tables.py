"""What each TensorRT version's Python module defines, for the fakes: enum members (with their C++ values),
the members of the classes this tool touches, and the module-level functions and dtype aliases.

Read (names and numbers only; no code) from NVIDIA/TensorRT's binding sources
``python/src/infer/{pyCore,pyFoundationalTypes,pyGraph,pyPlugin,pyInt8}.cpp`` and
``python/src/parsers/pyOnnx.cpp`` (``.value``/``.def*`` names of each ``py::enum_``/``py::class_``, ``m.def``
and ``m.attr`` names), with enum values from ``include/NvInfer*.h`` at the same refs:

* 10.3.0.26  = tag v10.3.0 (JetPack 6.1/6.2)
* 10.9.0.34  = tag v10.9.0 (first with HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY)
* 10.13.0.35 = branch release/10.13 (the version of the tensorrt-stubs mypy checks against)
* 11.1.0.106 = main (TensorRT 11.1: precision builder flags and EXPLICIT_BATCH gone, STRONGLY_TYPED = 0)

Class members include the methods a Python subclass overrides (named in the bindings' trampoline classes:
ILogger.log, IProfiler.report_layer_time, IOutputAllocator.reallocate_output[_async]/notify_shape).
ErrorCode (the ONNX parser's) is numbered in declaration order. Each value is a space-separated list.
"""

from __future__ import annotations

ENUMS: dict[str, dict[str, str]] = {
    "10.3.0.26": {
        "BuilderFlag": (
            "FP16=0 BF16=17 INT8=1 DEBUG=2 GPU_FALLBACK=3 REFIT=4 DISABLE_TIMING_CACHE=5 TF32=6 SPARSE_WEIGHTS=7 "
            "SAFETY_SCOPE=8 OBEY_PRECISION_CONSTRAINTS=9 PREFER_PRECISION_CONSTRAINTS=10 DIRECT_IO=11 "
            "REJECT_EMPTY_ALGORITHMS=12 VERSION_COMPATIBLE=13 EXCLUDE_LEAN_RUNTIME=14 FP8=15 "
            "ERROR_ON_TIMING_CACHE_MISS=16 DISABLE_COMPILATION_CACHE=18 WEIGHTLESS=19 STRIP_PLAN=19 "
            "REFIT_IDENTICAL=20 WEIGHT_STREAMING=21 INT4=22 REFIT_INDIVIDUAL=23"
        ),
        "NetworkDefinitionCreationFlag": "EXPLICIT_BATCH=0 STRONGLY_TYPED=1",
        "MemoryPoolType": (
            "WORKSPACE=0 DLA_MANAGED_SRAM=1 DLA_LOCAL_DRAM=2 DLA_GLOBAL_DRAM=3 TACTIC_DRAM=4 "
            "TACTIC_SHARED_MEMORY=5"
        ),
        "HardwareCompatibilityLevel": "NONE=0 AMPERE_PLUS=1",
        "DeviceType": "GPU=0 DLA=1",
        "ProfilingVerbosity": "LAYER_NAMES_ONLY=0 DETAILED=2 NONE=1",
        "LayerInformationFormat": "ONELINE=0 JSON=1",
        "DataType": "FLOAT=0 HALF=1 BF16=7 INT8=2 INT32=3 INT64=8 BOOL=4 UINT8=5 FP8=6 INT4=9",
        "TensorIOMode": "NONE=0 INPUT=1 OUTPUT=2",
        "TensorLocation": "DEVICE=0 HOST=1",
        "Severity": "INTERNAL_ERROR=0 ERROR=1 WARNING=2 INFO=3 VERBOSE=4",
        "ExecutionContextAllocationStrategy": "STATIC=0 ON_PROFILE_CHANGE=1 USER_MANAGED=2",
        "OnnxParserFlag": "NATIVE_INSTANCENORM=0",
        "ErrorCode": (
            "SUCCESS=0 INTERNAL_ERROR=1 MEM_ALLOC_FAILED=2 MODEL_DESERIALIZE_FAILED=3 INVALID_VALUE=4 "
            "INVALID_GRAPH=5 INVALID_NODE=6 UNSUPPORTED_GRAPH=7 UNSUPPORTED_NODE=8 UNSUPPORTED_NODE_ATTR=9 "
            "UNSUPPORTED_NODE_INPUT=10 UNSUPPORTED_NODE_DATATYPE=11 UNSUPPORTED_NODE_DYNAMIC=12 "
            "UNSUPPORTED_NODE_SHAPE=13 REFIT_FAILED=14"
        ),
        "TacticSource": "CUBLAS=0 CUBLAS_LT=1 CUDNN=2 EDGE_MASK_CONVOLUTIONS=3 JIT_CONVOLUTIONS=4",
        "PreviewFeature": "PROFILE_SHARING_0806=0 ALIASED_PLUGIN_IO_10_03=1",
        "RuntimePlatform": "SAME_AS_BUILD=0 WINDOWS_AMD64=1",
        "EngineCapability": "STANDARD=0 SAFETY=1 DLA_STANDALONE=2",
        "TensorFormat": (
            "LINEAR=0 CHW2=1 HWC8=2 CHW4=3 CHW16=4 CHW32=5 DHWC8=6 CDHW32=7 HWC=8 DLA_LINEAR=9 DLA_HWC4=10 "
            "HWC16=11 DHWC=12"
        ),
        "TempfileControlFlag": "ALLOW_IN_MEMORY_FILES=0 ALLOW_TEMPORARY_FILES=1",
        "SerializationFlag": "EXCLUDE_WEIGHTS=0 EXCLUDE_LEAN_RUNTIME=1",
        "QuantizationFlag": "CALIBRATE_BEFORE_FUSION=0",
    },
    "10.9.0.34": {
        "BuilderFlag": (
            "FP16=0 BF16=17 INT8=1 DEBUG=2 GPU_FALLBACK=3 REFIT=4 DISABLE_TIMING_CACHE=5 EDITABLE_TIMING_CACHE=27 "
            "TF32=6 SPARSE_WEIGHTS=7 SAFETY_SCOPE=8 OBEY_PRECISION_CONSTRAINTS=9 PREFER_PRECISION_CONSTRAINTS=10 "
            "DIRECT_IO=11 REJECT_EMPTY_ALGORITHMS=12 VERSION_COMPATIBLE=13 EXCLUDE_LEAN_RUNTIME=14 FP8=15 "
            "ERROR_ON_TIMING_CACHE_MISS=16 DISABLE_COMPILATION_CACHE=18 WEIGHTLESS=19 STRIP_PLAN=19 "
            "REFIT_IDENTICAL=20 WEIGHT_STREAMING=21 INT4=22 REFIT_INDIVIDUAL=23 STRICT_NANS=24 MONITOR_MEMORY=25 "
            "FP4=26"
        ),
        "NetworkDefinitionCreationFlag": "EXPLICIT_BATCH=0 STRONGLY_TYPED=1 PREFER_AOT_PYTHON_PLUGINS=3 PREFER_JIT_PYTHON_PLUGINS=2",
        "MemoryPoolType": (
            "WORKSPACE=0 DLA_MANAGED_SRAM=1 DLA_LOCAL_DRAM=2 DLA_GLOBAL_DRAM=3 TACTIC_DRAM=4 "
            "TACTIC_SHARED_MEMORY=5"
        ),
        "HardwareCompatibilityLevel": "NONE=0 AMPERE_PLUS=1 SAME_COMPUTE_CAPABILITY=2",
        "DeviceType": "GPU=0 DLA=1",
        "ProfilingVerbosity": "LAYER_NAMES_ONLY=0 DETAILED=2 NONE=1",
        "LayerInformationFormat": "ONELINE=0 JSON=1",
        "DataType": "FLOAT=0 HALF=1 BF16=7 INT8=2 INT32=3 INT64=8 BOOL=4 UINT8=5 FP8=6 INT4=9 FP4=10",
        "TensorIOMode": "NONE=0 INPUT=1 OUTPUT=2",
        "TensorLocation": "DEVICE=0 HOST=1",
        "Severity": "INTERNAL_ERROR=0 ERROR=1 WARNING=2 INFO=3 VERBOSE=4",
        "ExecutionContextAllocationStrategy": "STATIC=0 ON_PROFILE_CHANGE=1 USER_MANAGED=2",
        "OnnxParserFlag": "NATIVE_INSTANCENORM=0",
        "ErrorCode": (
            "SUCCESS=0 INTERNAL_ERROR=1 MEM_ALLOC_FAILED=2 MODEL_DESERIALIZE_FAILED=3 INVALID_VALUE=4 "
            "INVALID_GRAPH=5 INVALID_NODE=6 UNSUPPORTED_GRAPH=7 UNSUPPORTED_NODE=8 UNSUPPORTED_NODE_ATTR=9 "
            "UNSUPPORTED_NODE_INPUT=10 UNSUPPORTED_NODE_DATATYPE=11 UNSUPPORTED_NODE_DYNAMIC=12 "
            "UNSUPPORTED_NODE_SHAPE=13 REFIT_FAILED=14"
        ),
        "TacticSource": "CUBLAS=0 CUBLAS_LT=1 CUDNN=2 EDGE_MASK_CONVOLUTIONS=3 JIT_CONVOLUTIONS=4",
        "PreviewFeature": "PROFILE_SHARING_0806=0 ALIASED_PLUGIN_IO_10_03=1",
        "RuntimePlatform": "SAME_AS_BUILD=0 WINDOWS_AMD64=1",
        "EngineCapability": "STANDARD=0 SAFETY=1 DLA_STANDALONE=2",
        "TensorFormat": (
            "LINEAR=0 CHW2=1 HWC8=2 CHW4=3 CHW16=4 CHW32=5 DHWC8=6 CDHW32=7 HWC=8 DLA_LINEAR=9 DLA_HWC4=10 "
            "HWC16=11 DHWC=12"
        ),
        "TempfileControlFlag": "ALLOW_IN_MEMORY_FILES=0 ALLOW_TEMPORARY_FILES=1",
        "SerializationFlag": "EXCLUDE_WEIGHTS=0 EXCLUDE_LEAN_RUNTIME=1",
        "QuantizationFlag": "CALIBRATE_BEFORE_FUSION=0",
    },
    "10.13.0.35": {
        "BuilderFlag": (
            "FP16=0 BF16=17 INT8=1 DEBUG=2 GPU_FALLBACK=3 REFIT=4 DISABLE_TIMING_CACHE=5 EDITABLE_TIMING_CACHE=27 "
            "TF32=6 SPARSE_WEIGHTS=7 SAFETY_SCOPE=8 OBEY_PRECISION_CONSTRAINTS=9 PREFER_PRECISION_CONSTRAINTS=10 "
            "DIRECT_IO=11 REJECT_EMPTY_ALGORITHMS=12 VERSION_COMPATIBLE=13 EXCLUDE_LEAN_RUNTIME=14 FP8=15 "
            "ERROR_ON_TIMING_CACHE_MISS=16 DISABLE_COMPILATION_CACHE=18 WEIGHTLESS=19 STRIP_PLAN=19 "
            "REFIT_IDENTICAL=20 WEIGHT_STREAMING=21 INT4=22 REFIT_INDIVIDUAL=23 STRICT_NANS=24 MONITOR_MEMORY=25 "
            "FP4=26 DISTRIBUTIVE_INDEPENDENCE=28"
        ),
        "NetworkDefinitionCreationFlag": "EXPLICIT_BATCH=0 STRONGLY_TYPED=1 PREFER_AOT_PYTHON_PLUGINS=3 PREFER_JIT_PYTHON_PLUGINS=2",
        "MemoryPoolType": (
            "WORKSPACE=0 DLA_MANAGED_SRAM=1 DLA_LOCAL_DRAM=2 DLA_GLOBAL_DRAM=3 TACTIC_DRAM=4 "
            "TACTIC_SHARED_MEMORY=5"
        ),
        "HardwareCompatibilityLevel": "NONE=0 AMPERE_PLUS=1 SAME_COMPUTE_CAPABILITY=2",
        "DeviceType": "GPU=0 DLA=1",
        "ProfilingVerbosity": "LAYER_NAMES_ONLY=0 DETAILED=2 NONE=1",
        "LayerInformationFormat": "ONELINE=0 JSON=1",
        "DataType": "FLOAT=0 HALF=1 BF16=7 INT8=2 INT32=3 INT64=8 BOOL=4 UINT8=5 FP8=6 INT4=9 FP4=10 E8M0=11",
        "TensorIOMode": "NONE=0 INPUT=1 OUTPUT=2",
        "TensorLocation": "DEVICE=0 HOST=1",
        "Severity": "INTERNAL_ERROR=0 ERROR=1 WARNING=2 INFO=3 VERBOSE=4",
        "ExecutionContextAllocationStrategy": "STATIC=0 ON_PROFILE_CHANGE=1 USER_MANAGED=2",
        "OnnxParserFlag": "NATIVE_INSTANCENORM=0 ENABLE_UINT8_AND_ASYMMETRIC_QUANTIZATION_DLA=1",
        "ErrorCode": (
            "SUCCESS=0 INTERNAL_ERROR=1 MEM_ALLOC_FAILED=2 MODEL_DESERIALIZE_FAILED=3 INVALID_VALUE=4 "
            "INVALID_GRAPH=5 INVALID_NODE=6 UNSUPPORTED_GRAPH=7 UNSUPPORTED_NODE=8 UNSUPPORTED_NODE_ATTR=9 "
            "UNSUPPORTED_NODE_INPUT=10 UNSUPPORTED_NODE_DATATYPE=11 UNSUPPORTED_NODE_DYNAMIC=12 "
            "UNSUPPORTED_NODE_SHAPE=13 REFIT_FAILED=14"
        ),
        "TacticSource": "CUBLAS=0 CUBLAS_LT=1 CUDNN=2 EDGE_MASK_CONVOLUTIONS=3 JIT_CONVOLUTIONS=4",
        "PreviewFeature": "PROFILE_SHARING_0806=0 ALIASED_PLUGIN_IO_10_03=1 RUNTIME_ACTIVATION_RESIZE_10_10=2",
        "RuntimePlatform": "SAME_AS_BUILD=0 WINDOWS_AMD64=1",
        "EngineCapability": "STANDARD=0 SAFETY=1 DLA_STANDALONE=2",
        "TensorFormat": (
            "LINEAR=0 CHW2=1 HWC8=2 CHW4=3 CHW16=4 CHW32=5 DHWC8=6 CDHW32=7 HWC=8 DLA_LINEAR=9 DLA_HWC4=10 "
            "HWC16=11 DHWC=12"
        ),
        "TempfileControlFlag": "ALLOW_IN_MEMORY_FILES=0 ALLOW_TEMPORARY_FILES=1",
        "SerializationFlag": "EXCLUDE_WEIGHTS=0 EXCLUDE_LEAN_RUNTIME=1",
        "QuantizationFlag": "CALIBRATE_BEFORE_FUSION=0",
    },
    "11.1.0.106": {
        "BuilderFlag": (
            "DEBUG=2 GPU_FALLBACK=3 REFIT=4 DISABLE_TIMING_CACHE=5 EDITABLE_TIMING_CACHE=26 TF32=6 "
            "SPARSE_WEIGHTS=7 SAFETY_SCOPE=8 DIRECT_IO=11 VERSION_COMPATIBLE=12 EXCLUDE_LEAN_RUNTIME=13 "
            "ERROR_ON_TIMING_CACHE_MISS=15 DISABLE_COMPILATION_CACHE=17 STRIP_PLAN=18 REFIT_IDENTICAL=19 "
            "WEIGHT_STREAMING=20 REFIT_INDIVIDUAL=22 STRICT_NANS=23 MONITOR_MEMORY=24 "
            "DISTRIBUTIVE_INDEPENDENCE=27"
        ),
        "NetworkDefinitionCreationFlag": "STRONGLY_TYPED=0 PREFER_AOT_PYTHON_PLUGINS=2 PREFER_JIT_PYTHON_PLUGINS=1",
        "MemoryPoolType": (
            "WORKSPACE=0 DLA_MANAGED_SRAM=1 DLA_LOCAL_DRAM=2 DLA_GLOBAL_DRAM=3 TACTIC_DRAM=4 "
            "TACTIC_SHARED_MEMORY=5"
        ),
        "HardwareCompatibilityLevel": "NONE=0 AMPERE_PLUS=1 SAME_COMPUTE_CAPABILITY=2",
        "DeviceType": "GPU=0 DLA=1",
        "ProfilingVerbosity": "LAYER_NAMES_ONLY=0 DETAILED=2 NONE=1",
        "LayerInformationFormat": "ONELINE=0 JSON=1",
        "DataType": "FLOAT=0 HALF=1 BF16=7 INT8=2 INT32=3 INT64=8 BOOL=4 UINT8=5 FP8=6 INT4=9 FP4=10 E8M0=11",
        "TensorIOMode": "NONE=0 INPUT=1 OUTPUT=2",
        "TensorLocation": "DEVICE=0 HOST=1",
        "Severity": "INTERNAL_ERROR=0 ERROR=1 WARNING=2 INFO=3 VERBOSE=4",
        "ExecutionContextAllocationStrategy": "STATIC=0 ON_PROFILE_CHANGE=1 USER_MANAGED=2",
        "OnnxParserFlag": (
            "NATIVE_INSTANCENORM=0 ENABLE_UINT8_AND_ASYMMETRIC_QUANTIZATION_DLA=1 REPORT_CAPABILITY_DLA=2 "
            "ENABLE_PLUGIN_OVERRIDE=3 ADJUST_FOR_DLA=4"
        ),
        "ErrorCode": (
            "SUCCESS=0 INTERNAL_ERROR=1 MEM_ALLOC_FAILED=2 MODEL_DESERIALIZE_FAILED=3 INVALID_VALUE=4 "
            "INVALID_GRAPH=5 INVALID_NODE=6 UNSUPPORTED_GRAPH=7 UNSUPPORTED_NODE=8 UNSUPPORTED_NODE_ATTR=9 "
            "UNSUPPORTED_NODE_INPUT=10 UNSUPPORTED_NODE_DATATYPE=11 UNSUPPORTED_NODE_DYNAMIC=12 "
            "UNSUPPORTED_NODE_SHAPE=13 REFIT_FAILED=14"
        ),
        "TacticSource": "EDGE_MASK_CONVOLUTIONS=0 JIT_CONVOLUTIONS=1",
        "PreviewFeature": "ALIASED_PLUGIN_IO_10_03=0 RUNTIME_ACTIVATION_RESIZE_10_10=1",
        "RuntimePlatform": "SAME_AS_BUILD=0 WINDOWS_AMD64=1",
        "EngineCapability": "STANDARD=0 SAFETY=1 DLA_STANDALONE=2",
        "TensorFormat": (
            "LINEAR=0 CHW2=1 HWC8=2 CHW4=3 CHW16=4 CHW32=5 DHWC8=6 CDHW32=7 HWC=8 DLA_LINEAR=9 DLA_HWC4=10 "
            "HWC16=11 DHWC=12"
        ),
        "TempfileControlFlag": "ALLOW_IN_MEMORY_FILES=0 ALLOW_TEMPORARY_FILES=1",
        "SerializationFlag": "EXCLUDE_WEIGHTS=0 EXCLUDE_LEAN_RUNTIME=1 INCLUDE_REFIT=2",
    },
}

CLASSES: dict[str, dict[str, str]] = {
    "10.3.0.26": {
        "Builder": (
            "create_network platform_has_tf32 platform_has_fast_fp16 platform_has_fast_int8 max_DLA_batch_size "
            "num_DLA_cores gpu_allocator create_optimization_profile error_recorder create_builder_config "
            "build_serialized_network is_network_supported logger max_threads reset get_plugin_registry"
        ),
        "IBuilderConfig": (
            "avg_timing_iterations int8_calibrator engine_capability set_memory_pool_limit get_memory_pool_limit "
            "flags default_device_type DLA_core clear_flag set_flag get_flag quantization_flags "
            "clear_quantization_flag set_quantization_flag get_quantization_flag reset profile_stream "
            "add_optimization_profile set_calibration_profile get_calibration_profile num_optimization_profiles "
            "set_device_type get_device_type is_device_type_set reset_device_type can_run_on_DLA "
            "profiling_verbosity algorithm_selector set_tactic_sources get_tactic_sources create_timing_cache "
            "set_timing_cache get_timing_cache set_preview_feature get_preview_feature builder_optimization_level "
            "hardware_compatibility_level runtime_platform plugins_to_serialize max_aux_streams progress_monitor"
        ),
        "INetworkDefinition": (
            "name num_layers num_inputs num_outputs has_implicit_batch_dimension error_recorder mark_output "
            "mark_weights_refittable are_weights_marked_refittable add_input add_convolution_nd add_activation "
            "add_pooling_nd add_lrn add_scale add_scale_nd add_softmax add_concatenation add_deconvolution_nd "
            "add_elementwise add_unary add_padding_nd add_shuffle add_slice add_reduce add_topk add_gather "
            "add_scatter add_gather_v2 add_ragged_softmax add_matrix_multiply add_constant add_identity add_cast "
            "add_plugin_v2 add_plugin_v3 add_parametric_relu add_resize add_loop add_shape add_select "
            "add_assertion add_grid_sample add_nms add_fill add_quantize add_dequantize add_if_conditional "
            "add_einsum add_one_hot add_non_zero add_reverse_sequence add_normalization remove_tensor "
            "unmark_output mark_output_for_shapes unmark_output_for_shapes unmark_weights_refittable "
            "set_weights_name get_layer get_input get_output builder flags get_flag mark_debug unmark_debug "
            "is_debug_tensor serialize"
        ),
        "ITensor": (
            "name shape dtype broadcast_across_batch location allowed_formats is_network_input is_network_output "
            "is_shape_tensor is_execution_tensor dynamic_range set_dynamic_range reset_dynamic_range "
            "set_dimension_name get_dimension_name"
        ),
        "IOptimizationProfile": "set_shape get_shape set_shape_input get_shape_input extra_memory_target",
        "OnnxParser": (
            "parse parse_with_weight_descriptors parse_from_file supports_operator supports_model "
            "supports_model_v2 num_subgraphs is_subgraph_supported get_subgraph_nodes num_errors get_error "
            "clear_errors flags clear_flag set_flag get_flag get_layer_output_tensor get_used_vc_plugin_libraries"
        ),
        "ParserError": "code desc file line func node node_name node_operator local_function_stack local_function_stack_size",
        "Runtime": (
            "deserialize_cuda_engine DLA_core num_DLA_cores gpu_allocator error_recorder logger max_threads "
            "temporary_directory tempfile_control_flags get_plugin_registry load_runtime engine_host_code_allowed"
        ),
        "ICudaEngine": (
            "has_implicit_batch_dimension num_layers serialize create_serialization_config serialize_with_config "
            "create_execution_context create_execution_context_without_device_memory "
            "get_device_memory_size_for_profile get_device_memory_size_for_profile_v2 device_memory_size "
            "device_memory_size_v2 refittable name num_optimization_profiles engine_capability num_io_tensors "
            "get_tensor_name get_tensor_mode is_shape_inference_io get_tensor_shape get_tensor_dtype "
            "get_tensor_location get_tensor_bytes_per_component get_tensor_components_per_element "
            "get_tensor_format get_tensor_format_desc get_tensor_vectorized_dim get_tensor_profile_shape "
            "get_tensor_profile_values error_recorder tactic_sources profiling_verbosity create_engine_inspector "
            "hardware_compatibility_level num_aux_streams weight_streaming_budget weight_streaming_budget_v2 "
            "minimum_weight_streaming_budget streamable_weights_size get_weight_streaming_automatic_budget "
            "weight_streaming_scratch_memory_size is_debug_tensor"
        ),
        "IExecutionContext": (
            "execute_v2 debug_sync profiler engine name device_memory set_device_memory "
            "update_device_memory_size_for_shapes active_optimization_profile get_tensor_strides set_input_shape "
            "get_tensor_shape set_tensor_address get_tensor_address set_input_consumed_event "
            "get_input_consumed_event set_output_allocator get_output_allocator get_max_output_size "
            "temporary_allocator infer_shapes execute_async_v3 all_binding_shapes_specified "
            "all_shape_inputs_specified set_optimization_profile_async error_recorder enqueue_emits_profile "
            "report_to_profiler persistent_cache_limit nvtx_verbosity set_aux_streams set_debug_listener "
            "get_debug_listener set_tensor_debug_state get_debug_state set_all_tensors_debug_state"
        ),
        "EngineInspector": "execution_context get_layer_information get_engine_information error_recorder",
        "ITimingCache": "serialize combine reset",
        "IHostMemory": "dtype nbytes",
        "Dims": "",
        "ILogger": "log",
        "Logger": "min_severity log",
        "IProfiler": "report_layer_time",
        "Profiler": "report_layer_time",
        "IOutputAllocator": "reallocate_output reallocate_output_async notify_shape",
        "IErrorRecorder": "MAX_DESC_LENGTH num_errors get_error_code get_error_desc has_overflowed clear report_error",
    },
    "10.9.0.34": {
        "Builder": (
            "create_network platform_has_tf32 platform_has_fast_fp16 platform_has_fast_int8 max_DLA_batch_size "
            "num_DLA_cores gpu_allocator create_optimization_profile error_recorder create_builder_config "
            "build_serialized_network build_engine_with_config is_network_supported logger max_threads reset "
            "get_plugin_registry"
        ),
        "IBuilderConfig": (
            "avg_timing_iterations int8_calibrator engine_capability set_memory_pool_limit get_memory_pool_limit "
            "flags default_device_type DLA_core clear_flag set_flag get_flag quantization_flags "
            "clear_quantization_flag set_quantization_flag get_quantization_flag reset profile_stream "
            "add_optimization_profile set_calibration_profile get_calibration_profile num_optimization_profiles "
            "set_device_type get_device_type is_device_type_set reset_device_type can_run_on_DLA "
            "profiling_verbosity algorithm_selector set_tactic_sources get_tactic_sources create_timing_cache "
            "set_timing_cache get_timing_cache set_preview_feature get_preview_feature builder_optimization_level "
            "max_num_tactics hardware_compatibility_level runtime_platform plugins_to_serialize max_aux_streams "
            "progress_monitor tiling_optimization_level l2_limit_for_tiling"
        ),
        "INetworkDefinition": (
            "name num_layers num_inputs num_outputs has_implicit_batch_dimension error_recorder mark_output "
            "mark_weights_refittable are_weights_marked_refittable add_input add_convolution_nd add_activation "
            "add_pooling_nd add_lrn add_scale add_scale_nd add_softmax add_concatenation add_deconvolution_nd "
            "add_elementwise add_unary add_padding_nd add_shuffle add_slice add_reduce add_topk add_gather "
            "add_scatter add_gather_v2 add_ragged_softmax add_matrix_multiply add_constant add_identity add_cast "
            "add_plugin_v2 add_plugin_v3 add_plugin add_parametric_relu add_resize add_loop add_shape add_select "
            "add_assertion add_grid_sample add_nms add_fill add_quantize add_dequantize add_dynamic_quantize "
            "add_if_conditional add_einsum add_one_hot add_non_zero add_reverse_sequence add_normalization "
            "add_cumulative remove_tensor unmark_output mark_output_for_shapes unmark_output_for_shapes "
            "unmark_weights_refittable set_weights_name get_layer get_input get_output builder flags get_flag "
            "mark_debug unmark_debug is_debug_tensor add_squeeze add_unsqueeze serialize"
        ),
        "ITensor": (
            "name shape dtype broadcast_across_batch location allowed_formats is_network_input is_network_output "
            "is_shape_tensor is_execution_tensor dynamic_range set_dynamic_range reset_dynamic_range "
            "set_dimension_name get_dimension_name"
        ),
        "IOptimizationProfile": "set_shape get_shape set_shape_input get_shape_input extra_memory_target",
        "OnnxParser": (
            "parse parse_with_weight_descriptors parse_from_file supports_operator supports_model "
            "supports_model_v2 num_subgraphs is_subgraph_supported get_subgraph_nodes num_errors get_error "
            "clear_errors flags clear_flag set_flag get_flag get_layer_output_tensor get_used_vc_plugin_libraries"
        ),
        "ParserError": "code desc file line func node node_name node_operator local_function_stack local_function_stack_size",
        "Runtime": (
            "deserialize_cuda_engine DLA_core num_DLA_cores gpu_allocator error_recorder logger max_threads "
            "temporary_directory tempfile_control_flags get_plugin_registry load_runtime engine_host_code_allowed"
        ),
        "ICudaEngine": (
            "has_implicit_batch_dimension num_layers serialize create_serialization_config serialize_with_config "
            "create_execution_context create_execution_context_without_device_memory "
            "get_device_memory_size_for_profile get_device_memory_size_for_profile_v2 device_memory_size "
            "device_memory_size_v2 refittable name num_optimization_profiles engine_capability num_io_tensors "
            "get_tensor_name get_tensor_mode is_shape_inference_io get_tensor_shape get_tensor_dtype "
            "get_tensor_location get_tensor_bytes_per_component get_tensor_components_per_element "
            "get_tensor_format get_tensor_format_desc get_tensor_vectorized_dim get_tensor_profile_shape "
            "get_tensor_profile_values error_recorder tactic_sources profiling_verbosity create_engine_inspector "
            "hardware_compatibility_level num_aux_streams weight_streaming_budget weight_streaming_budget_v2 "
            "minimum_weight_streaming_budget streamable_weights_size get_weight_streaming_automatic_budget "
            "weight_streaming_scratch_memory_size is_debug_tensor"
        ),
        "IExecutionContext": (
            "execute_v2 debug_sync profiler engine name device_memory set_device_memory "
            "update_device_memory_size_for_shapes active_optimization_profile get_tensor_strides set_input_shape "
            "get_tensor_shape set_tensor_address get_tensor_address set_input_consumed_event "
            "get_input_consumed_event set_output_allocator get_output_allocator get_max_output_size "
            "temporary_allocator infer_shapes execute_async_v3 all_binding_shapes_specified "
            "all_shape_inputs_specified set_optimization_profile_async error_recorder enqueue_emits_profile "
            "report_to_profiler persistent_cache_limit nvtx_verbosity set_aux_streams set_debug_listener "
            "get_debug_listener set_tensor_debug_state get_debug_state set_all_tensors_debug_state"
        ),
        "EngineInspector": "execution_context get_layer_information get_engine_information error_recorder",
        "ITimingCache": "serialize combine reset queryKeys query update",
        "IHostMemory": "dtype nbytes",
        "Dims": "",
        "ILogger": "log",
        "Logger": "min_severity log",
        "IProfiler": "report_layer_time",
        "Profiler": "report_layer_time",
        "IOutputAllocator": "reallocate_output reallocate_output_async notify_shape",
        "IErrorRecorder": "MAX_DESC_LENGTH num_errors get_error_code get_error_desc has_overflowed clear report_error",
    },
    "10.13.0.35": {
        "Builder": (
            "create_network platform_has_tf32 platform_has_fast_fp16 platform_has_fast_int8 max_DLA_batch_size "
            "num_DLA_cores gpu_allocator create_optimization_profile error_recorder create_builder_config "
            "build_serialized_network build_serialized_network_to_stream build_engine_with_config "
            "is_network_supported logger max_threads reset get_plugin_registry"
        ),
        "IBuilderConfig": (
            "avg_timing_iterations engine_capability set_memory_pool_limit get_memory_pool_limit flags "
            "default_device_type DLA_core clear_flag set_flag get_flag reset profile_stream "
            "add_optimization_profile int8_calibrator quantization_flags clear_quantization_flag "
            "set_quantization_flag get_quantization_flag set_calibration_profile get_calibration_profile "
            "algorithm_selector num_optimization_profiles set_device_type get_device_type is_device_type_set "
            "reset_device_type can_run_on_DLA profiling_verbosity set_tactic_sources get_tactic_sources "
            "create_timing_cache set_timing_cache get_timing_cache set_preview_feature get_preview_feature "
            "builder_optimization_level max_num_tactics hardware_compatibility_level runtime_platform "
            "plugins_to_serialize max_aux_streams progress_monitor tiling_optimization_level l2_limit_for_tiling "
            "remote_auto_tuning_config"
        ),
        "INetworkDefinition": (
            "name num_layers num_inputs num_outputs has_implicit_batch_dimension error_recorder mark_output "
            "mark_weights_refittable are_weights_marked_refittable add_input add_convolution_nd add_activation "
            "add_pooling_nd add_lrn add_scale add_scale_nd add_softmax add_concatenation add_deconvolution_nd "
            "add_elementwise add_unary add_padding_nd add_shuffle add_slice add_reduce add_topk add_gather "
            "add_scatter add_gather_v2 add_ragged_softmax add_matrix_multiply add_constant add_identity add_cast "
            "add_plugin_v2 add_plugin_v3 add_plugin add_parametric_relu add_resize add_loop add_shape add_select "
            "add_assertion add_grid_sample add_nms add_fill add_quantize add_dequantize add_dynamic_quantize "
            "add_if_conditional add_einsum add_one_hot add_non_zero add_reverse_sequence add_normalization "
            "add_cumulative remove_tensor unmark_output mark_output_for_shapes unmark_output_for_shapes "
            "unmark_weights_refittable set_weights_name get_layer get_input get_output builder flags get_flag "
            "mark_debug unmark_debug is_debug_tensor mark_unfused_tensors_as_debug_tensors "
            "unmark_unfused_tensors_as_debug_tensors add_squeeze add_unsqueeze serialize"
        ),
        "ITensor": (
            "name shape dtype broadcast_across_batch location allowed_formats is_network_input is_network_output "
            "is_shape_tensor is_execution_tensor dynamic_range set_dynamic_range reset_dynamic_range "
            "set_dimension_name get_dimension_name"
        ),
        "IOptimizationProfile": "set_shape get_shape set_shape_input get_shape_input extra_memory_target",
        "OnnxParser": (
            "parse parse_with_weight_descriptors parse_from_file supports_operator supports_model "
            "supports_model_v2 num_subgraphs is_subgraph_supported get_subgraph_nodes num_errors get_error "
            "clear_errors flags clear_flag set_flag get_flag get_layer_output_tensor get_used_vc_plugin_libraries "
            "load_model_proto load_initializer parse_model_proto"
        ),
        "ParserError": "code desc file line func node node_name node_operator local_function_stack local_function_stack_size",
        "Runtime": (
            "deserialize_cuda_engine DLA_core num_DLA_cores gpu_allocator error_recorder logger max_threads "
            "temporary_directory tempfile_control_flags get_plugin_registry load_runtime engine_host_code_allowed"
        ),
        "ICudaEngine": (
            "has_implicit_batch_dimension num_layers serialize create_serialization_config serialize_with_config "
            "create_execution_context create_execution_context_without_device_memory "
            "get_device_memory_size_for_profile device_memory_size get_device_memory_size_for_profile_v2 "
            "device_memory_size_v2 refittable name num_optimization_profiles engine_capability num_io_tensors "
            "get_tensor_name get_tensor_mode is_shape_inference_io get_tensor_shape get_tensor_dtype "
            "get_tensor_location get_tensor_bytes_per_component get_tensor_components_per_element "
            "get_tensor_format get_tensor_format_desc get_tensor_vectorized_dim get_tensor_profile_shape "
            "get_tensor_profile_values error_recorder tactic_sources profiling_verbosity create_engine_inspector "
            "hardware_compatibility_level num_aux_streams weight_streaming_budget minimum_weight_streaming_budget "
            "weight_streaming_budget_v2 streamable_weights_size get_weight_streaming_automatic_budget "
            "weight_streaming_scratch_memory_size is_debug_tensor create_runtime_config"
        ),
        "IExecutionContext": (
            "execute_v2 debug_sync profiler engine name device_memory set_device_memory "
            "update_device_memory_size_for_shapes active_optimization_profile get_tensor_strides set_input_shape "
            "get_tensor_shape set_tensor_address get_tensor_address set_input_consumed_event "
            "get_input_consumed_event set_output_allocator get_output_allocator get_max_output_size "
            "temporary_allocator infer_shapes execute_async_v3 all_binding_shapes_specified "
            "all_shape_inputs_specified set_optimization_profile_async error_recorder enqueue_emits_profile "
            "report_to_profiler persistent_cache_limit nvtx_verbosity set_aux_streams set_debug_listener "
            "get_debug_listener set_tensor_debug_state get_debug_state set_all_tensors_debug_state "
            "unfused_tensors_debug_state get_runtime_config"
        ),
        "EngineInspector": "execution_context get_layer_information get_engine_information error_recorder",
        "ITimingCache": "serialize combine reset queryKeys query update",
        "IHostMemory": "dtype nbytes",
        "Dims": "",
        "ILogger": "log",
        "Logger": "min_severity log",
        "IProfiler": "report_layer_time",
        "Profiler": "report_layer_time",
        "IOutputAllocator": "reallocate_output reallocate_output_async notify_shape",
        "IErrorRecorder": "MAX_DESC_LENGTH num_errors get_error_code get_error_desc has_overflowed clear report_error",
    },
    "11.1.0.106": {
        "Builder": (
            "create_network max_DLA_batch_size num_DLA_cores gpu_allocator create_optimization_profile "
            "error_recorder create_builder_config build_serialized_network build_engine_with_config "
            "build_serialized_network_to_stream is_network_supported logger max_threads reset get_plugin_registry"
        ),
        "IBuilderConfig": (
            "avg_timing_iterations engine_capability set_memory_pool_limit get_memory_pool_limit flags "
            "default_device_type DLA_core clear_flag set_flag get_flag reset profile_stream "
            "add_optimization_profile num_optimization_profiles set_device_type get_device_type "
            "is_device_type_set reset_device_type can_run_on_DLA profiling_verbosity set_tactic_sources "
            "get_tactic_sources create_timing_cache set_timing_cache get_timing_cache set_preview_feature "
            "get_preview_feature builder_optimization_level max_num_tactics hardware_compatibility_level "
            "runtime_platform plugins_to_serialize max_aux_streams progress_monitor tiling_optimization_level "
            "l2_limit_for_tiling remote_auto_tuning_config build_route all_build_routes"
        ),
        "INetworkDefinition": (
            "name num_layers num_inputs num_outputs has_implicit_batch_dimension error_recorder mark_output "
            "mark_weights_refittable are_weights_marked_refittable add_input add_convolution_nd add_activation "
            "add_pooling_nd add_lrn add_scale add_scale_nd add_softmax add_concatenation add_deconvolution_nd "
            "add_elementwise add_unary add_padding_nd add_shuffle add_slice add_reduce add_topk add_gather "
            "add_scatter add_gather_v2 add_ragged_softmax add_matrix_multiply add_constant add_identity add_cast "
            "add_plugin_v2 add_plugin_v3 add_plugin add_parametric_relu add_resize add_loop add_shape add_select "
            "add_assertion add_grid_sample add_nms add_fill add_quantize add_dequantize add_dynamic_quantize "
            "add_dynamic_quantize_v2 add_if_conditional add_einsum add_one_hot add_non_zero add_reverse_sequence "
            "add_normalization add_cumulative add_attention add_attention_v2 add_rotary_embedding "
            "add_kv_cache_update add_moe remove_tensor unmark_output mark_output_for_shapes "
            "unmark_output_for_shapes unmark_weights_refittable set_weights_name get_layer get_input get_output "
            "builder flags get_flag mark_debug unmark_debug is_debug_tensor mark_unfused_tensors_as_debug_tensors "
            "unmark_unfused_tensors_as_debug_tensors add_squeeze add_unsqueeze add_normalization_v2 "
            "add_dist_collective serialize"
        ),
        "ITensor": (
            "name shape dtype broadcast_across_batch location allowed_formats is_network_input is_network_output "
            "is_shape_tensor is_execution_tensor set_dimension_name get_dimension_name"
        ),
        "IOptimizationProfile": "set_shape get_shape set_shape_input get_shape_input extra_memory_target",
        "OnnxParser": (
            "parse parse_from_file supports_operator supports_model_v2 num_subgraphs is_subgraph_supported "
            "get_subgraph_nodes num_errors get_error clear_errors flags clear_flag set_flag get_flag "
            "get_layer_output_tensor get_used_vc_plugin_libraries load_model_proto load_initializer "
            "parse_model_proto set_builder_config"
        ),
        "ParserError": "code desc file line func node node_name node_operator local_function_stack local_function_stack_size",
        "Runtime": (
            "deserialize_cuda_engine DLA_core num_DLA_cores gpu_allocator error_recorder logger max_threads "
            "temporary_directory tempfile_control_flags get_plugin_registry load_runtime engine_host_code_allowed"
        ),
        "ICudaEngine": (
            "num_layers serialize create_serialization_config serialize_with_config create_execution_context "
            "get_device_memory_size_for_profile_v2 device_memory_size_v2 refittable name "
            "num_optimization_profiles engine_capability num_io_tensors get_tensor_name get_tensor_mode "
            "is_shape_inference_io get_tensor_shape get_tensor_dtype get_tensor_location "
            "get_tensor_bytes_per_component get_tensor_components_per_element get_tensor_format "
            "get_tensor_format_desc get_tensor_vectorized_dim get_tensor_profile_shape get_tensor_profile_values "
            "get_aliased_input_tensor error_recorder tactic_sources profiling_verbosity create_engine_inspector "
            "hardware_compatibility_level num_aux_streams weight_streaming_budget_v2 streamable_weights_size "
            "get_weight_streaming_automatic_budget weight_streaming_scratch_memory_size is_debug_tensor "
            "create_runtime_config get_engine_stat"
        ),
        "IExecutionContext": (
            "execute_v2 debug_sync profiler engine name device_memory set_device_memory "
            "update_device_memory_size_for_shapes active_optimization_profile get_tensor_strides set_input_shape "
            "get_tensor_shape set_tensor_address get_tensor_address set_input_consumed_event "
            "get_input_consumed_event set_output_allocator get_output_allocator get_max_output_size "
            "temporary_allocator infer_shapes execute_async_v3 all_binding_shapes_specified "
            "set_optimization_profile_async error_recorder enqueue_emits_profile report_to_profiler "
            "persistent_cache_limit nvtx_verbosity set_aux_streams set_debug_listener get_debug_listener "
            "set_tensor_debug_state get_debug_state set_all_tensors_debug_state unfused_tensors_debug_state "
            "set_communicator get_runtime_config"
        ),
        "EngineInspector": "execution_context get_layer_information get_engine_information error_recorder",
        "ITimingCache": "serialize combine reset queryKeys query update",
        "IHostMemory": "dtype nbytes",
        "Dims": "",
        "ILogger": "log",
        "Logger": "min_severity log",
        "IProfiler": "report_layer_time",
        "Profiler": "report_layer_time",
        "IOutputAllocator": "reallocate_output reallocate_output_async notify_shape",
        "IErrorRecorder": "MAX_DESC_LENGTH num_errors get_error_code get_error_desc has_overflowed clear report_error",
    },
}

MODULE: dict[str, str] = {
    "10.3.0.26": (
        "bfloat16 bool float16 float32 fp8 get_builder_plugin_registry get_nv_onnx_parser_version "
        "get_plugin_registry init_libnvinfer_plugins int32 int4 int64 int8 uint8"
    ),
    "10.9.0.34": (
        "bfloat16 bool float16 float32 fp4 fp8 get_builder_plugin_registry get_nv_onnx_parser_version "
        "get_plugin_registry init_libnvinfer_plugins int32 int4 int64 int8 uint8"
    ),
    "10.13.0.35": (
        "bfloat16 bool e8m0 float16 float32 fp4 fp8 get_builder_plugin_registry get_nv_onnx_parser_version "
        "get_plugin_registry init_libnvinfer_plugins int32 int4 int64 int8 uint8"
    ),
    "11.1.0.106": (
        "bfloat16 bool e8m0 float16 float32 fp4 fp8 get_builder_plugin_registry get_nv_onnx_parser_version "
        "get_plugin_registry init_libnvinfer_plugins int32 int4 int64 int8 uint8"
    ),
}
